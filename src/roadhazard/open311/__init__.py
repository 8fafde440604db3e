"""Open311 GeoReport v2 at /open311/v2/: the hazard classes as services, reports as service
requests, and posted requests filed as manual reports, through the reports service."""
