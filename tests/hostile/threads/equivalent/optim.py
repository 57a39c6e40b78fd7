

raise ImportError("stands for a module that breaks the rules at import")
