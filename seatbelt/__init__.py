"""macOS Seatbelt profiles generated from sandbox policies. Built in a later
issue; nothing here yet.
"""
