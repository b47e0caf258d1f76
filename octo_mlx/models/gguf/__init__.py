"""GGUF, llama.cpp's file format: the reader (format), the tokenizer rebuilt from its metadata
(vocab), and import to / export from an mlx-lm model folder (convert)."""
