from sq.service.cli import main

main()
