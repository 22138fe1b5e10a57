from loadtests.swarm.cli import main

main()
