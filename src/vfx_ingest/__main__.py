from vfx_ingest.cli import main

main()
