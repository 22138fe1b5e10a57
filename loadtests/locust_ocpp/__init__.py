"""Locust chargers for the CSMS: see loadtests/locustfile.py."""
