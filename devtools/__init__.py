"""Stand-ins for outside providers (Twilio, QWeather) on 127.0.0.1, for the tests and `haven bench`.

They are test doubles, not part of the product, but the benchmarks start them from an installed package.
"""
