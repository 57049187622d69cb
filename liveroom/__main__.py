from liveroom.cli import main

main()
