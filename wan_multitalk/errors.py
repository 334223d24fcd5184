"""One error type for bad user input, so every message names the input and the fix."""


class InputError(ValueError):
    """A user-facing input problem, raised before any expensive work starts.

    The message always says which input is wrong and what to do about it.
    """

    def __init__(self, input_name: str, problem: str, fix: str):
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{input_name}: {problem} Fix: {fix}")
