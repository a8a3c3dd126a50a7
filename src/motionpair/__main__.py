from motionpair.cli import main

main()
