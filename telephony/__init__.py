"""Calls and audio. Knows SIP/RTP/G.711 and nothing of Django.

The seam used by the rest of the product is `telephony.interface`: a Carrier dials, an answered Call
exchanges 20 ms frames of 16-bit PCM at 8 kHz.
"""
