"""`python -m loadtests.bench`: see loadtests/bench/__init__.py."""

from loadtests.bench.cli import main

main()
