from faulttui.cli import main

main()
