"""Background work on RQ: queue names and enqueueing (`queues`), and the jobs themselves."""
