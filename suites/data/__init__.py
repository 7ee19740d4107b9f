"""The data stages: the built-in world and the competing datasets (`build` steps)."""
