"""Local servers that speak the real HTTP protocols of the services Roadhazard depends on."""
