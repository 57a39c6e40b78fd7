
raise ImportError("stands for a module that ends its process at import")
