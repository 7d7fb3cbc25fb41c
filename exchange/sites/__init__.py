"""Parks and factories (绿色园区、工厂): sites, their output, and footprint roll-ups."""
