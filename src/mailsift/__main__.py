from mailsift.cli import main

main()
