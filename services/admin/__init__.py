"""Operator commands on the command line (`csms station …`) until the operator API covers them."""
