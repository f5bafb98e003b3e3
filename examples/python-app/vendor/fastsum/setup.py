from setuptools import Extension, setup

setup(
    name="fastsum",
    version="1.0.0",
    packages=["fastsum"],
    ext_modules=[Extension("fastsum._native", ["fastsum/_native.c"])],
)
