"""What people run: the command line, the check_engine gate, the pytest plugin, the
self-test and the parallel backends."""
