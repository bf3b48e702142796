from pipepulse.cli import main

main()
