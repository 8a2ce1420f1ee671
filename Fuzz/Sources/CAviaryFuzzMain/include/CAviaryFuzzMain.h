// Nothing to import: this module only supplies the executable's entry point (see main.c).
