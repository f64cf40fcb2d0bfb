"""The demo sandbox: a simulated Exchange 5.5 install, service-pack media and a PE writer."""
