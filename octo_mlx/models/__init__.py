"""Which model we run and how it is read: the embedded default model (default), model folders and
their loading (loading), architectures and their dimensions (shape), a folder at a glance (info),
and GGUF in and out (gguf/)."""
