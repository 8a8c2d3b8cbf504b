"""HTML to text: charset detection, main-content extractors, and a watchdog that caps time per page."""
