"""Domain operations. Each public function owns its transaction; web, API and jobs call them."""
