"""The HTTP edge: what every request and response passes before and after the routers
(header limits, security headers, which proxies may name the client)."""
