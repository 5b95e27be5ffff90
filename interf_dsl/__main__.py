from interf_dsl.cli import main

main()
