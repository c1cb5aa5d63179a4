"""vfx-ingest: a clip goes in; a shot folder of VFX-ready passes comes out."""

__version__ = "0.1.0"
