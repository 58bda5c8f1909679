"""What the console's home page sums up of a site: it reads every area, so it sits above them."""
