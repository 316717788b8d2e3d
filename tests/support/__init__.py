"""Test support shared by the tests and the benchmarks: the Bot API emulator, an SMTP sink, a
throwaway PostgreSQL cluster and the answer paths the tests replay."""
