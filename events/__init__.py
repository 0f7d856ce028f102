"""Task events: logged in MongoDB after each committed write, announced through Redis, fanned
out in process to every subscriber of the user on this instance."""
