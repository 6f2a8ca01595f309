"""Activities: every piece of I/O an agent does. Clients come in through class constructors."""
