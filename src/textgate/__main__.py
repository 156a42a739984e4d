from textgate.cli import main

main()
