"""Coverage-guided fuzz harnesses (atheris/libFuzzer); see fuzz/README.md."""
