"""What training leaves beside a frozen base: LoRA/DoRA layers from a LoRA config (lora), the rows
of added vocabulary tokens (rows), and adapter folders: read, checked, saved, loaded (folder)."""
