"""Generated images: download, convert, cache, save by date, the gallery, and the service that
ties them together for chat replies and `/v1/images/generations`."""
