"""Issue 10: the service on a ward office LAN (boards, idle sockets, endless uploads, huge
bodies, the reverse proxy, several processes on one database)."""
