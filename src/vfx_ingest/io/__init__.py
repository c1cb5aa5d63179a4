"""Reading and writing media: probing clips, decoding frames, writing PNG and EXR."""
