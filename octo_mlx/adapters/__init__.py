"""What training leaves beside a frozen base: LoRA/DoRA layers from a LoRA config (lora), the rows
of added vocabulary tokens (rows), and adapter folders: read, checked, saved, loaded (folder);
several combined into one, in update space (combine: the maths; combined: the folders), one
folded into its base (fuse), and PEFT's LoRA folders written and read (peft_map: the names and
layouts; peft: the folders)."""
