"""The live page (``/ui/live``): Face Mesh in the browser, landmarks over the live WebSocket, results per second."""
