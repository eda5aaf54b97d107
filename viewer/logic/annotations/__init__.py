"""The reader's annotations without Qt: the records and the undoable list (``model``), what each
measures (``measuring``) and their store per series in the user's data folder (``store``).
Drawing and editing them is ``viewer.annotations``."""
