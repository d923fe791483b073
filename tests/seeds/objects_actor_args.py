import edgeray as ray
# ruff: noqa
# Seed 003, "Passing Object Arguments": the top-level vs nested convention for
# actor constructors and actor method calls.
# Added: `ray.init()`; a check (not in the document): ArgProbe reports what its
# constructor and method received -- the value for a top-level ref, an
# ObjectRef inside the list for a nested one; `ray.shutdown()` at the end.

ray.init()


@ray.remote
class Actor:
  def __init__(self, arg):
    pass

  def method(self, arg):
    pass

obj = ray.put(2)

# Examples of passing objects to actor constructors.
actor_handle = Actor.remote(obj)  # by-value
actor_handle = Actor.remote([obj])  # by-reference

# Examples of passing objects to actor method calls.
actor_handle.method.remote(obj)  # by-value
actor_handle.method.remote([obj])  # by-reference


# --- added check ---
def describe(arg):
    if isinstance(arg, list):
        return "list of " + ", ".join(
            "ObjectRef" if isinstance(x, ray.ObjectRef) else repr(x) for x in arg
        )
    return repr(arg)


@ray.remote
class ArgProbe:
    def __init__(self, arg):
        self.init_arg = describe(arg)

    def constructor_arg(self):
        return self.init_arg

    def method(self, arg):
        return describe(arg)


p1 = ArgProbe.remote(obj)
p2 = ArgProbe.remote([obj])
print("constructor by-value:", ray.get(p1.constructor_arg.remote()))
print("constructor by-reference:", ray.get(p2.constructor_arg.remote()))
print("method by-value:", ray.get(p1.method.remote(obj)))
print("method by-reference:", ray.get(p1.method.remote([obj])))

ray.shutdown()
