"""inbox: the core. domain/ (what things are), actions/ (the only writers), queries/ (reads),
storage/ (database, buses, media), workers/ (background loops), and compose.py, which
wires a process together. The layers and their import rules: docs/architecture.md."""
