"""The shared local engine: one resident model per user and machine, many editors."""
