"""The link with the city's case platform (issue 13 items 2–4): its service accounts and API calls, the video
checks it asks for, and the messages it is sent through the outbox."""
