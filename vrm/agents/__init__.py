"""CNA agents: enrollment, heartbeats, host liveness, and the VRM -> agent client."""
