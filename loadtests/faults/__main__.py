"""`python -m loadtests.faults`: see loadtests/faults/__init__.py."""

from loadtests.faults.cli import main

main()
