"""lm-eval task configs for sftbench's OpenLLM stage (data files: the YAMLs and utils.py here)."""
